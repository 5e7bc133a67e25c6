"""One client of a two-process DTensor mesh over loopback (started by a test).

usage: multi_client_worker.py CLIENT_ID PORT0,PORT1 MODEL_DIR
Each client has 4 virtual CPUs; together they form the batch:2,expert:4 mesh
and train the test run; client 0's model dir holds the metrics.
"""

import os
import sys

from glam_tf import loopback

client_id, ports, model_dir = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
os.environ.update({**loopback.client_env(client_id, ports), "TF_CPP_MIN_LOG_LEVEL": "3"})
sys.path.insert(0, os.path.dirname(__file__))

from glam_tf import sharding  # noqa: E402

sharding.configure_virtual_devices(4)

import runs  # noqa: E402

# Each client feeds only its own batch shard: its 4 devices hold batch row
# block `client_id` of the batch:2,expert:4 mesh.
mesh_sharding = runs.make_sharding()
assert mesh_sharding.batch_shards() == ([client_id], 2)
trainer = runs.trainer(model_dir, runs.RUN, mesh_sharding)
runs.decisive_router(trainer)
trainer.train()
print(f"client {client_id} done at step {trainer.steps_done}")
