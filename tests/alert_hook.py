"""An alert hook for the tests: appends each alert to $CRM_TEST_ALERT_FILE."""

import json
import os


def record(alert: dict) -> None:
    with open(os.environ["CRM_TEST_ALERT_FILE"], "a") as handle:
        handle.write(json.dumps(alert) + "\n")


def explode(alert: dict) -> None:
    raise RuntimeError("the mail server is down")
