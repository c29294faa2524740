"""The labeling app: campaigns of prompts with candidate answers, judged by reviewers in a browser."""
