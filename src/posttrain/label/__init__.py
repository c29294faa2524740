"""The labeling app: campaigns of prompts with candidate answers, judged by reviewers in a browser.

``app`` (the web app: pages, sessions, judging, admin views) and ``cli`` (``posttrain label``: campaigns,
accounts, the app, exports). Needs the ``web`` extra (``pip install 'posttrain[web]'``).
"""
