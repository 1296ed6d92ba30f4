"""Automation: the loop closed. Retraining fired by alerts and new data, and rollouts judged on live data.

:mod:`~loopwright.automation.retraining` runs a deployment's training pipeline on the right data, registers
its model as the ``candidate`` and checks the promotion gates; :mod:`~loopwright.automation.plan` describes
how a candidate goes out (shadow, then canary steps); :mod:`~loopwright.automation.analysis` compares the
candidate with production on the live prediction log; :mod:`~loopwright.automation.controller` advances
each rollout step by step, then promotes or rolls back, recording and notifying every decision.
"""
