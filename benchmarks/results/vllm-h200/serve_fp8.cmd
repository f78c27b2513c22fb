vllm serve /root/smol --served-model-name smollm2-135m-instruct --dtype bfloat16 --max-model-len 4096 --max-num-seqs 64 --gpu-memory-utilization 0.18 --seed 0 --port 8003 --quantization fp8
