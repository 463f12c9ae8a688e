# lit configuration for every Janus lit suite (test/dialects, test/passes, test/import, test/tools).
import os
import shutil

import lit.formats
import lit.util

site = lit_config.params.get("janus_site_config")
if site and not hasattr(config, "janus_obj_root"):
    lit_config.load_config(config, site)
    # load_config of the site file re-enters this file only if the site file says so; it doesn't.

config.name = "Janus"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.janus_obj_root, "test")

# Tools first from the build, then FileCheck/not/count from LLVM 22 (never /usr/bin/FileCheck-14).
path = os.path.pathsep.join([config.janus_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", os.environ["PATH"])])
config.environment["PATH"] = path

config.substitutions.append(("%janus_src", config.janus_src_root))
config.substitutions.append(("%fixtures", os.path.join(config.janus_src_root, "test", "data", "hf")))
config.substitutions.append(("%examples", os.path.join(config.janus_src_root, "examples")))

if config.janus_build_compiler:
    config.available_features.add("compiler")
if config.janus_have_cuda:
    config.available_features.add("cuda")
# A visible NVIDIA GPU (nvidia-smi lists one): the cuda backend can run, not just build.
try:
    import subprocess
    _gpus = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    if _gpus.returncode == 0 and "GPU" in _gpus.stdout:
        config.available_features.add("cuda-device")
except (OSError, subprocess.SubprocessError):
    pass
