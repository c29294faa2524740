"""One readable loop per algorithm, each on the shared step loop in :mod:`posttrain.training.loop`.

- ``sft``: supervised fine-tuning on conversations (packed rows, assistant-only loss).
- ``dpo``: preference optimisation from pairs (sigmoid/DPO, IPO, SimPO, ORPO) and unpaired rows (KTO).
- ``rm``: a reward model from pairs (Bradley-Terry, margins, reward centring).
- ``grpo``: group-relative policy optimisation with verifiable rewards (also GSPO, CISPO, DAPO options).
- ``ppo``: PPO with a value head, GAE and an adaptive KL leash.
- ``rejection``: best-of-n sampling scored by rewards or a reward model, written as SFT data.
- ``rl``: what grpo and ppo share: prompt rows, samples, the policy wrapper, rollouts and scoring.

Loss math lives in :mod:`posttrain.losses`; the registry that names these as stages is
:mod:`posttrain.registry`.
"""
