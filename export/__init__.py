"""SavedModel export for TF Serving (installed as `glam_tf.export`).

The exporter and the serving client arrive with the serving issue; this
package exists now so that the install layout is fixed and tested.
"""
