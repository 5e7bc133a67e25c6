"""DTensor tests: 8 logical CPU devices, set before TensorFlow starts.

This folder runs in its own pytest process (tests/test_dtensor_suite.py
starts it), because the device count cannot change once TF has started.
"""

from glam_tf import sharding

sharding.configure_virtual_devices(8)
