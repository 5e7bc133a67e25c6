"""Few-shot evaluation tasks and their registry (installed as `glam_tf.tasks`).

The registry and the 29 GLaM benchmarks arrive with the evaluation issue;
this package exists now so that the install layout is fixed and tested.
"""
