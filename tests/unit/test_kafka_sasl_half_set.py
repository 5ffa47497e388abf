"""SASL settings set by half (hostile probe of the environment, 2026-12-06, eleventh): a
mechanism that signs in with a user name and password but one of them unset or empty, or
`KAFKA_SASL_MECHANISM=` empty. Before, librdkafka refused the client with "sasl.username and
sasl.password must be set" or "sasl.mechanisms: (null)", naming no variable to set; now the
settings refuse them (exit 2, one line naming the `KAFKA_` variables, never the password)
before any client is made."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from auditstream.cli import main
from shared.errors import ExitCode
from shared.settings import KafkaSettings

#: librdkafka's mechanisms that sign in with sasl.username and sasl.password.
PASSWORD_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
PASSWORD = "pw-Hunter2-never-shown"
HEADER = ("transaction_id,customer_id,timestamp,amount,country,channel,device,"
          "merchant_category,ip\n")
ROW = "1,c1,2025-01-01 00:00:00,1.0,CH,app,pc,fuel,10.0.0.1\n"


def _kafka(**fields: object) -> KafkaSettings:
    return KafkaSettings.model_validate({"bootstrap_servers": "127.0.0.1:1", **fields})


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
@pytest.mark.parametrize("mechanism", PASSWORD_MECHANISMS)
@pytest.mark.parametrize(("given_", "unset"), [
    ({}, "KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD: not set"),
    ({"sasl_username": "auditor"}, "KAFKA_SASL_PASSWORD: not set"),
    ({"sasl_username": "auditor", "sasl_password": ""}, "KAFKA_SASL_PASSWORD: not set"),
    ({"sasl_password": PASSWORD}, "KAFKA_SASL_USERNAME: not set"),
    ({"sasl_username": "", "sasl_password": PASSWORD}, "KAFKA_SASL_USERNAME: not set"),
])
def test_a_password_mechanism_without_its_user_or_password_names_what_to_set(
    protocol: str, mechanism: str, given_: dict[str, str], unset: str,
) -> None:
    with pytest.raises(ValidationError) as caught:
        _kafka(security_protocol=protocol, sasl_mechanism=mechanism, **given_)
    text = str(caught.value)
    assert unset in text, text
    assert f"KAFKA_SASL_MECHANISM={mechanism} over KAFKA_SECURITY_PROTOCOL={protocol}" in text
    assert PASSWORD not in text


@pytest.mark.parametrize(("protocol", "mechanism"), [
    ("SASL_PLAINTEXT", "OAUTHBEARER"), ("SASL_SSL", "GSSAPI"), ("SASL_SSL", None),
    ("PLAINTEXT", "PLAIN"), ("SSL", "SCRAM-SHA-512"),
])
def test_no_user_is_asked_for_where_none_signs_in(protocol: str, mechanism: str | None) -> None:
    kafka = _kafka(security_protocol=protocol, sasl_mechanism=mechanism)
    assert kafka.client_config()["security.protocol"] == protocol
    assert kafka.client_config().get("sasl.mechanism") == mechanism


@pytest.mark.parametrize("mechanism", PASSWORD_MECHANISMS)
def test_both_set_passes_them_on(mechanism: str) -> None:
    conf = _kafka(security_protocol="SASL_SSL", sasl_mechanism=mechanism,
                  sasl_username="auditor", sasl_password=PASSWORD).client_config()
    assert (conf["sasl.mechanism"], conf["sasl.username"], conf["sasl.password"]) == (
        mechanism, "auditor", PASSWORD)


def _refusal(password: str) -> str:
    with pytest.raises(ValidationError) as caught:
        _kafka(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_password=password)
    return str(caught.value)


@given(password=st.text(min_size=1).filter(str.strip))
def test_the_refusal_does_not_depend_on_the_password(password: str) -> None:
    # pydantic's text quoted the input, the password with it
    assert _refusal(password) == _refusal(PASSWORD)
    assert PASSWORD not in _refusal(PASSWORD)


@pytest.mark.parametrize("empty", ["", " ", "\t"])
def test_an_empty_mechanism_says_empty_and_which_there_are(empty: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _kafka(security_protocol="SASL_SSL", sasl_mechanism=empty,
               sasl_username="auditor", sasl_password=PASSWORD)
    text = str(caught.value)
    assert ("empty; give one of GSSAPI, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER"
            in text), text


@pytest.mark.parametrize(("env", "says"), [
    ({"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_PASSWORD": PASSWORD},
     "error: invalid setting KAFKA_SASL_USERNAME: not set or empty, but "
     "KAFKA_SASL_MECHANISM=PLAIN over KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT signs in with "
     "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD; set both"),
    ({"KAFKA_SASL_MECHANISM": "", "KAFKA_SASL_PASSWORD": PASSWORD},
     "error: invalid setting KAFKA_SASL_MECHANISM: Value error, empty; give one of GSSAPI, "
     "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER"),
])
def test_a_command_with_sasl_set_by_half_is_exit_2_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    env: dict[str, str], says: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("KAFKA_STARTUP_WAIT_S", "1")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "in.csv").write_text(HEADER + ROW)
    assert main(["replay", "in.csv"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1 and says in lines[0], err
    assert PASSWORD not in err and "Traceback" not in err
