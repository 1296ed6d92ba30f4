"""Serving: deployments, routing, the runtime, the prediction log and feedback, batch scoring."""
