"""The networks: EfficientNet-Lite backbones, the space-time-memory network (student and teacher configurations),
its modules and memory read, and safetensors checkpoints with the weight search path."""
