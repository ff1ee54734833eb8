"""Make the README's TUI screenshots (docs/tui-main.svg, docs/tui-detail.svg) from the example catalog.

    HF_HUB_OFFLINE=1 .venv/bin/python -m docs.screenshots

The same set-up as the snapshot tests (tests/support/tui_catalog.py): catalog.db.example moved under a
temporary folder, the SD1 kohya LoRA rebuilt by the zoo (for the block norms), a few previews.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from loradex.tui.app import make_app
from tests.support.tui_catalog import LORA, example_catalog

HERE = Path(__file__).parent


async def shoot(db: Path) -> None:
    app = make_app(db)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        app.save_screenshot("tui-main.svg", path=str(HERE))
        await pilot.press("slash", *LORA, "enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.save_screenshot("tui-detail.svg", path=str(HERE))


def main() -> None:
    from loradex.adapters.zoo import build_zoo

    with tempfile.TemporaryDirectory() as tmp:
        zoo = build_zoo(Path(tmp) / "zoo")
        asyncio.run(shoot(example_catalog(Path(tmp) / "loradex", lora_file=zoo[LORA].path)))
    print("wrote", HERE / "tui-main.svg", HERE / "tui-detail.svg")


if __name__ == "__main__":
    main()
