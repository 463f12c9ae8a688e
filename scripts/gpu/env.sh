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
