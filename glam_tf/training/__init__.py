"""Training: the GLaM optimizer and schedule, the loss, and the training loop."""
