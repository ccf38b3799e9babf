"""Torch API facts about train/eval mode, as data: what creates a model, what wraps one, what
switches grad off, what is a training step. Used by :mod:`dropcheck.analysis.modes`."""

from __future__ import annotations

import re

#: Context managers / decorators that disable autograd (an "inference context").
NO_GRAD_CONTEXTS: frozenset[str] = frozenset({
    "torch.no_grad", "torch.autograd.no_grad", "torch.autograd.grad_mode.no_grad",
    "torch.inference_mode", "torch.autograd.inference_mode",
    "torch.autograd.grad_mode.inference_mode",
})
#: ``set_grad_enabled(flag)``: an inference context only when ``flag`` is the constant False.
SET_GRAD_ENABLED: frozenset[str] = frozenset({
    "torch.set_grad_enabled", "torch.autograd.set_grad_enabled",
    "torch.autograd.grad_mode.set_grad_enabled",
})
#: Context managers that turn autograd back on inside an inference context.
ENABLE_GRAD: frozenset[str] = frozenset({
    "torch.enable_grad", "torch.autograd.enable_grad", "torch.autograd.grad_mode.enable_grad",
})

#: Calls whose result is the same module object as their first argument (wrappers).
WRAPPERS: frozenset[str] = frozenset({
    "torch.nn.DataParallel", "torch.nn.parallel.DataParallel",
    "torch.nn.parallel.DistributedDataParallel", "torch.nn.DistributedDataParallel",
    "torch.nn.parallel.distributed.DistributedDataParallel",
    "torch.distributed.fsdp.FullyShardedDataParallel",
    "torch.compile",
    # builds a GraphModule around the model's own submodules and sets it to the model's mode
    "torchvision.models.feature_extraction.create_feature_extractor",
})
#: torch.nn containers: what they are built from may be existing models (a backbone).
CONTAINERS: frozenset[str] = frozenset(
    "torch.nn." + name for name in ("Sequential", "ModuleList", "ModuleDict"))
#: Module methods that return the module itself (``m.to(dev)`` is ``m``).
SELF_RETURNING_METHODS: frozenset[str] = frozenset({
    "to", "cuda", "cpu", "half", "float", "double", "bfloat16", "type", "share_memory",
    "to_empty", "requires_grad_", "apply", "eval", "train", "xpu", "mps", "ipu",
})
#: Module methods known not to change the mode (and not to be forwards).
NEUTRAL_METHODS: frozenset[str] = frozenset({
    "parameters", "named_parameters", "buffers", "named_buffers", "children",
    "named_children", "modules", "named_modules", "state_dict", "zero_grad",
    "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_backward_hook", "register_full_backward_pre_hook", "register_buffer",
    "register_parameter", "register_module", "add_module", "get_submodule", "get_parameter",
    "get_buffer", "extra_repr", "num_parameters", "get_input_embeddings",
    "get_output_embeddings", "resize_token_embeddings", "gradient_checkpointing_enable",
    "gradient_checkpointing_disable", "save_pretrained", "push_to_hub", "tie_weights",
    "print_trainable_parameters", "register_load_state_dict_post_hook",
    "register_state_dict_pre_hook", "set_extra_state", "get_extra_state", "__repr__",
    "enable_input_require_grads", "load_state_dict",
})
#: Module methods that run the model forward.
FORWARD_METHODS: frozenset[str] = frozenset({"forward", "generate", "__call__"})
#: Methods of a module called through an attribute (``m.to(...)``, ``m.eval()``): never the
#: forward of a submodule held in that attribute (``self.net(x)``).
#: Methods of a training framework that hand back the module (or, given several objects, each
#: of them) wrapped, in the same mode: Accelerate's ``prepare``, Lightning Fabric's
#: ``setup_module`` and ``setup``.
WRAPPING_METHODS: frozenset[str] = frozenset({"prepare", "setup", "setup_module"})

MODULE_METHODS: frozenset[str] = (SELF_RETURNING_METHODS | NEUTRAL_METHODS | FORWARD_METHODS
                                  | {"eval", "train", "load_state_dict", "apply"})

#: Functions that receive a module but never change its mode.
MODE_NEUTRAL_FUNCTIONS: frozenset[str] = frozenset({
    "print", "len", "isinstance", "type", "id", "repr", "str", "hasattr", "getattr", "hash",
    "vars", "dir", "sum", "next", "iter", "list", "tuple", "zip", "enumerate",
    "torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad_value_",
    "torch.nn.utils.parameters_to_vector",
})
#: Functions that load weights into the module passed first (``load_model(model, path)``).
WEIGHT_LOADERS: frozenset[str] = frozenset({
    "safetensors.torch.load_model",
})

#: Loaders whose result is a module in whatever mode it was saved (``torch.save(model)``).
MODEL_LOADERS: frozenset[str] = frozenset({"torch.load"})
#: Savers: a module saved whole comes back from ``torch.load`` in the mode it had.
MODEL_SAVERS: frozenset[str] = frozenset({"torch.save"})
#: Loaders/compilers whose result is not an ``nn.Module`` we track (TorchScript, exported
#: programs): their mode is not the problem DC001 looks for.
OPAQUE_PRODUCERS: frozenset[str] = frozenset({
    "torch.jit.load", "torch.jit.script", "torch.jit.trace", "torch.jit.freeze",
    "torch.jit.optimize_for_inference", "torch.export.load", "torch.export.export",
    "torch.export.export_for_training", "torch._export.aot_compile",
})
#: Model factories outside torch.nn whose result is a fresh module in training mode.
TRAIN_MODE_FACTORIES_PREFIXES: tuple[str, ...] = ("torchvision.models.",)
TRAIN_MODE_FACTORIES: frozenset[str] = frozenset({"timm.create_model"})

#: Exports that bake the current mode into a graph, and the argument that holds the model.
EXPORTS: dict[str, str] = {
    "torch.jit.trace": "torch.jit.trace",
    "torch.jit.trace_module": "torch.jit.trace_module",
    "torch.onnx.export": "torch.onnx.export",
    "torch.export.export": "torch.export.export",
}

#: Lightning hooks in which the Trainer has already put the model in eval mode.
LIGHTNING_EVAL_HOOKS: frozenset[str] = frozenset({
    "validation_step", "test_step", "predict_step", "on_validation_epoch_end",
    "on_test_epoch_end", "on_predict_epoch_end", "validation_epoch_end", "test_epoch_end",
    "on_validation_batch_end", "on_test_batch_end", "on_predict_batch_end",
})

#: Names of objects whose ``.step()`` is a training step (optimizers, grad scalers).
OPTIMIZER_NAME_HINTS: tuple[str, ...] = ("optim", "opt", "scaler")


#: Method names of a model that compute a training loss (``model.loss(...)``,
#: ``model.get_loss(...)``, ``model.compute_loss(...)``, ``model.forward_train(...)``).
LOSS_METHOD_PREFIXES: tuple[str, ...] = ("loss", "get_loss", "compute_loss", "calc_loss",
                                         "calculate_loss", "forward_train", "training_step",
                                         "train_step", "forward_loss")


def is_loss_method(method: str) -> bool:
    return method.startswith(LOSS_METHOD_PREFIXES) or method.endswith("_loss")

#: Names of loaders and datasets that evaluation loops over (``test_loader``, ``val_data``,
#: ``valid_dataset``, ``testloader``): without a training step, such a loop is an evaluation
#: phase.
EVALUATION_DATA = re.compile(
    r"(^|_)(test|val|valid|validation|eval|evaluation|dev)_?"
    r"(loader|dataloader|data|dataset|set|ds|dl|iter|batches|samples)s?\d*$", re.IGNORECASE)
#: Subscripted loaders (``loaders["valid"]``): the key alone names the split.
EVALUATION_SPLIT = re.compile(r"^(test|val|valid|validation|eval|evaluation|dev)$",
                              re.IGNORECASE)
