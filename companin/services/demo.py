"""A demo organization for a first look, created once per instance."""

from __future__ import annotations

import json
import os
import uuid

from ..db import write_transaction
from ..identity import SERVER, Principal
from ..models import Assistant, WidgetConfig
from .ingestion import Ingestion
from .knowledge import create_qa
from .organizations import create_organization

DEMO_FILE = "demo-credentials.json"


def credentials_path(instance_path: str) -> str:
    return os.path.join(instance_path, DEMO_FILE)


DEMO_FAQ = (
    ("What are your business hours?", "We are open Monday to Friday, 9 AM to 6 PM EST."),
    (
        "How long does shipping take?",
        "Standard shipping takes 3 to 5 business days; express shipping arrives in 1 to 2.",
    ),
    (
        "What is your return policy?",
        "You can return any unused item within 30 days of delivery for a full refund.",
    ),
    (
        "How do I reset my password?",
        "Go to Settings, choose Security and click Reset Password; we email you a link.",
    ),
)


# What the demo page may show of the demo organization: never its secret.
PUBLIC_FIELDS = ("client_id", "assistant_id", "widget_config_id")


def existing_demo(instance_path: str) -> dict[str, str] | None:
    """The demo organization's public ids, if this instance has one."""
    try:
        with open(credentials_path(instance_path)) as handle:
            details = json.load(handle)
    except (OSError, ValueError):
        return None
    return {name: details[name] for name in PUBLIC_FIELDS if name in details}


def ensure_demo(instance_path: str, ingestion: Ingestion) -> dict[str, str]:
    """Create the demo organization, with an assistant, a widget config and a few Q&A pairs,
    on the first call; later calls return what was made.

    Its credentials are kept in the instance folder (mode 0600) so that `make run` can
    show them every time: this is a throwaway organization on the user's own machine.
    """
    path = credentials_path(instance_path)
    if os.path.exists(path):
        with open(path) as handle:
            return json.load(handle)
    credentials = create_organization("Demo organization")
    with write_transaction():
        assistant = Assistant.create(
            organization=credentials.organization_id,
            name="Demo Support Assistant",
            description="Answers questions about the demo shop.",
            tone="friendly",
            default_tasks=["answer_questions", "provide_support"],
        )
        config = WidgetConfig.create(
            organization=credentials.organization_id,
            assistant=assistant,
            name="Demo widget",
            suggested_questions=["What are your business hours?"],
            theme={"primary_color": "#2563eb", "position": "bottom-right", "title": "Support"},
        )
    principal = Principal(kind=SERVER, org_id=uuid.UUID(credentials.organization_id))
    for question, answer in DEMO_FAQ:
        create_qa(principal, {"question": question, "answer": answer, "source": "demo"}, ingestion)
    details = {
        "organization_id": credentials.organization_id,
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
        "assistant_id": str(assistant.id),
        "widget_config_id": str(config.id),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(details, handle, indent=2)
    return details
