"""Losses as pure functions of tensors (log-probs, rewards, masks in; loss and metrics out).

- ``sft``: token cross-entropy over the loss mask.
- ``preference``: DPO (sigmoid), IPO, SimPO, ORPO and KTO with its reference point, in ``PREFERENCE_LOSSES``.
- ``reward``: the Bradley-Terry reward-model loss with margins and reward centring.
- ``policy``: policy-gradient surrogates (PPO-clip, GSPO, CISPO) in ``POLICY_LOSSES``, advantages
  (group-relative, RLOO, REINFORCE++) in ``ADVANTAGES``, GAE, the k3 KL estimator, PPO's per-token
  reward shaping and whitening, the value loss and the KL controllers.
- ``output``: ``LossOutput``, the loss plus the metrics each function reports.

Each has tests whose expected values are derived by hand.
"""
