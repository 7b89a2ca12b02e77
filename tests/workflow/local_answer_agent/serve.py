"""The CustomerSupport agent with a model that answers warranty questions from its local `get_product_info` tool.

That is what a real Bedrock model may do: the product catalogue also knows each product's warranty months, so the
answer is right, but the gateway's WarrantyCheck tool is never called. Used to prove that the rollout's smoke test
does not depend on the model's choice: with `agentToolCheck: require` the rollout fails by name, with `answer` it
still proves the secured gateway directly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "agent"))

import main as agent_main
from offline_model import PRODUCT_INFO_TOOL, OfflineDeterministicModel
from strands.models.model import Model


class LocalAnswerModel(OfflineDeterministicModel):
    """The offline model, except that a warranty question for a product goes to get_product_info."""

    def _choose_tool(self, text: str, available_tools: set[str]) -> tuple[str, dict[str, str]] | None:
        chosen = super()._choose_tool(text, available_tools)
        if chosen is not None and chosen[0].endswith("check_warranty"):
            return PRODUCT_INFO_TOOL, {"query": chosen[1]["product_id"]}
        return chosen


def load_local_answer_model() -> Model:
    return LocalAnswerModel()


agent_main.load_model = load_local_answer_model

if __name__ == "__main__":
    agent_main.app.run(port=int(os.environ["PORT"]), host=os.environ.get("HOST", "127.0.0.1"))
