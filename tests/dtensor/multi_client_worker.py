"""One client of a two-process DTensor mesh over loopback (started by a test).

usage: multi_client_worker.py CLIENT_ID PORT0,PORT1 MODEL_DIR
Each client has 4 virtual CPUs; together they form the batch:2,expert:4 mesh
and train the test run; client 0's model dir holds the metrics.
"""

import os
import sys

client_id, ports, model_dir = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
os.environ.update({
    "DTENSOR_CLIENT_ID": str(client_id), "DTENSOR_NUM_CLIENTS": str(len(ports)),
    "DTENSOR_JOB_NAME": "worker",
    "DTENSOR_JOBS": ",".join(f"localhost:{port}" for port in ports),
    "TF_CPP_MIN_LOG_LEVEL": "3"})
sys.path.insert(0, os.path.dirname(__file__))

from glam_tf import sharding  # noqa: E402

sharding.configure_virtual_devices(4)

import test_sharding as shared  # noqa: E402
from glam_tf.training.trainer import Trainer  # noqa: E402

mesh_sharding = shared._sharding()
trainer = Trainer(model_dir, shared.CONFIG, shared.RUN, shared._random_rows,
                  log=lambda _: None, sharding=mesh_sharding)
shared._decisive_router(trainer)
trainer.train()
print(f"client {client_id} done at step {trainer.steps_done}")
