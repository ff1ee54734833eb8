"""The zoo: tiny bases, and adapters for them in every file convention loradex recognises.

Tests and ``loradex demo`` build it into a folder. Everything is random but deterministic
from a seed, tiny (the tiny architectures of :mod:`.models` keep only the widths that
identify a family) and built without the Hub. Each item records what ``probe`` must report
for it (kind, format, base).

Files are written the way the tools of the field write them: kohya/LyCORIS stems come from
the layer map (``Layer.kohya``), the diffusers LoRA goes through diffusers'
``save_lora_weights``, the PEFT folder through PEFT's ``save_pretrained``, the ControlNet
folder through diffusers, and single files are the inverse of diffusers' converters (the SD1 one
also as a .ckpt, the zip pickle with `state_dict` that LDM training wrote).

Not production code: the tests and the demo use it; nothing else in loradex imports it.
``build`` writes the zoo (an adapter file per convention, ``zoo.json``), ``bases`` the tiny
bases, ``adapter_tensors`` the factors and kohya metadata they share, ``dit_loras`` the SD3 / Flux
LoRAs in each producer's keys (for the tiny bases and, at rank 1, the full-size architectures);
``models`` holds the tiny architectures (SD1, SD2, SDXL, SD3, Flux.1), ``single_files`` their
original single-file layout, ``tokenizer`` their tiny CLIP and T5 tokenizers, ``clip`` saves a
tiny CLIP (text and vision) for CLIP scores. The top floor of `adapters`: it may import every other one.
"""

from .adapter_tensors import VISIBLE_LORA_SCALE
from .bases import tiny_pipeline_folder, tiny_single_file
from .build import Zoo, ZooItem, build_zoo
from .clip import tiny_clip_folder
from .models import TINY
from .tokenizer import write_clip_tokenizer

__all__ = [
    "TINY",
    "VISIBLE_LORA_SCALE",
    "Zoo",
    "ZooItem",
    "build_zoo",
    "tiny_clip_folder",
    "tiny_pipeline_folder",
    "tiny_single_file",
    "write_clip_tokenizer",
]
