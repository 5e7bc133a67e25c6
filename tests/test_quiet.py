"""Start-up noise filtering: `glam` shows its own lines, not TensorFlow's start-up logs."""

import os
import subprocess
import sys
import textwrap

from glam_tf import quiet

# The lines TF 2.21 / TF Text print on a CPU machine, as seen on this project's CI.
STARTUP_NOISE = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1796166639.499048    2404 port.cc:153] oneDNN custom operations are on. "
    b"You may see slightly different numerical results.",
    b"I0000 00:00:1796166639.499504    2404 cudart_stub.cc:31] Could not find cuda drivers on "
    b"your machine, GPU will not be used.",
    b"I0000 00:00:1796166639.540209    2404 cpu_feature_guard.cc:227] This TensorFlow binary is "
    b"optimized to use available CPU instructions in performance-critical operations.",
    b"To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    b"TensorFlow with the appropriate compiler flags.",
    b"E0000 00:00:1796166642.455859    2404 cuda_platform.cc:52] failed call to cuInit: "
    b"INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    b"normalizer.cc(51) LOG(INFO) precompiled_charsmap is empty. use identity normalization.",
    b"E0000 00:00:1796167681.028105   11838 util.cc:131] oneDNN supports DT_INT64 only on "
    b"platforms with AVX-512. Falling back to the default Eigen-based implementation.",
]
CUINIT = STARTUP_NOISE[5]


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", quiet.VERBOSE_ENV)}
    return {**env, **extra}


def test_every_known_startup_line_is_noise():
    state = {}
    assert all(quiet.is_noise(line, state) for line in STARTUP_NOISE)


def test_cuinit_failure_is_kept_when_a_cuda_driver_exists():
    assert not quiet.is_noise(CUINIT, {})


def test_real_warnings_and_errors_are_not_noise():
    state = {}
    for line in STARTUP_NOISE:
        quiet.is_noise(line, state)
    for line in (b"W0000 00:00:1.5    7 gpu_device.cc:2345] Cannot dlopen some GPU libraries.",
                 b"E0000 00:00:1.5    7 op_kernel.cc:1830] OP_REQUIRES failed at x.cc:12",
                 b"I0000 00:00:1.5    7 gpu_device.cc:2020] Created device /device:GPU:0",
                 b"Traceback (most recent call last):"):
        assert not quiet.is_noise(line, state), line


def test_filter_drops_noise_written_to_fd2_and_passes_the_rest_through():
    # A fresh process, as `glam` is: the filter sits on descriptor 2 itself.
    script = textwrap.dedent(f"""
        import os, sys
        from glam_tf import quiet
        quiet.quiet_startup()
        for line in {STARTUP_NOISE!r}:
            os.write(2, line + b"\\n")
        os.write(2, b"E0000 real C++ error\\n")
        os.write(2, b"no newline at exit")
        print("python stderr", file=sys.stderr)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, env=_env(),
                          timeout=60)
    assert done.returncode == 0
    assert sorted(done.stderr.splitlines()) == sorted(
        [b"E0000 real C++ error", b"no newline at exit", b"python stderr"])


def _glam_train(tmp_path, *extra, **env):
    return subprocess.run(
        [sys.executable, "-m", "glam_tf.cli", "train", "--preset", "glam_tiny", "--model_dir",
         str(tmp_path / "run"), "--steps", "1", "--set", "vocab_size=512", *extra],
        capture_output=True, text=True, env=_env(**env), timeout=600)


def test_glam_train_prints_no_tensorflow_startup_lines_unless_verbose(tmp_path, tokenizer):
    quiet_run = _glam_train(tmp_path / "quiet", "--batch_size", "2", "--seq_len", "16",
                            "--tokenizer", tokenizer)
    assert quiet_run.returncode == 0, quiet_run.stderr
    assert quiet_run.stderr == ""
    assert quiet_run.stdout.startswith("step 1/1")
    # With --verbose (or GLAM_VERBOSE=1) they show: the check above can fail. TensorFlow
    # prints them as it loads, which a run stopped by its missing data files has done
    # (the data files are globbed through tf.io.gfile), so these runs need not train.
    for extra, env in ((("--verbose",), {}), ((), {quiet.VERBOSE_ENV: "1"})):
        loud = _glam_train(tmp_path / str(len(env)), "--data", f"files:{tmp_path}/none-*.txt",
                           *extra, **env)
        assert loud.returncode == 2 and "the pattern matches no file" in loud.stderr, loud.stderr
        assert "absl::InitializeLog" in loud.stderr
