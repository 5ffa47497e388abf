"""The integration harness's topics (`tests.integration.detector_harness.Topics`, used by the
pipeline harness and `bench/chaos_soak.py`) are the run's own, every one the services read:
the randomized soak's sink read the broker's shared `transactions.reviews` (helper session
19, seed 742 with a plan, on a broker where a probe had published three reviews): it took
one, held at another, and its run.json's `assurance` (`reviews_read` 1, `reviews_unmatched`
1) differed from `score`'s, a divergence no service caused."""

from __future__ import annotations

from shared.settings import TopicName, TopicSettings
from tests.integration.detector_harness import Topics


def _topic_variables() -> list[str]:
    prefix = str(TopicSettings.model_config["env_prefix"])
    return [f"{prefix}{name}".upper() for name, field in TopicSettings.model_fields.items()
            if tuple(field.metadata) == TopicName.__metadata__]  # type: ignore[attr-defined]


def test_every_topic_a_service_reads_is_named_for_the_run() -> None:
    variables = _topic_variables()
    assert "AUDITSTREAM_REVIEWS_TOPIC" in variables, variables
    one, other = Topics("run-a", 4).env(), Topics("run-b", 4).env()
    for variable in variables:
        assert variable in one, f"{variable} is left to its default: shared by every run"
        assert one[variable].startswith("run-a"), (variable, one[variable])
        assert one[variable] != other[variable], variable
    assert len({one[v] for v in variables}) == len(variables), one
