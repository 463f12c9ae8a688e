# Sourced by the scripts in scripts/gpu that run ON the GPU machine: the carried binaries link
# cuBLAS (and NCCL) dynamically, and there they come with the Python wheels, not /usr/local/cuda
# (kept as a fallback). NVLink multicast stays off, as on every lent machine.
janus_gpu_site=/opt/torch/.venv/lib/python3.12/site-packages/nvidia
janus_gpu_libdirs=""
for d in "$janus_gpu_site/cublas/lib" "$janus_gpu_site/nccl/lib" \
    $(find "$janus_gpu_site" -name 'libcublas.so.13*' -printf '%h\n' 2>/dev/null | sort -u) \
    /usr/local/cuda/lib64; do
  [ -d "$d" ] && janus_gpu_libdirs="$janus_gpu_libdirs${janus_gpu_libdirs:+:}$d"
done
export LD_LIBRARY_PATH="$janus_gpu_libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export NCCL_NVLS_ENABLE=0
unset janus_gpu_site janus_gpu_libdirs d

# The absolute path of a folder of carried binaries, or a message naming the calling script:
#   bin=$(janus_binary_dir "$dir" check.sh) || exit 2
janus_binary_dir() {
  if [ ! -d "$1" ]; then
    echo "$2: no binary folder '$1' (run scripts/gpu/build-carry.sh here first)" >&2
    return 2
  fi
  (cd "$1" && pwd)
}
