"""A demo organization for a first look, created once per instance."""

from __future__ import annotations

import json
import os
import uuid

from ..db import write_transaction
from ..errors import Conflict
from ..identity import SERVER, Principal
from ..models import Assistant, WidgetConfig
from .ingestion import Ingestion
from .knowledge import create_qa
from .organizations import create_organization
from .people import create_user

DEMO_FILE = "demo-credentials.json"
# The demo organization's owner, who signs in to the console.
DEMO_OWNER_EMAIL = "demo@example.com"


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


# What the demo page may show of the demo organization: never its secret or its owner's password.
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
    """Create the demo organization, with an assistant, a widget config, a few Q&A pairs and
    an owner who signs in to the console, on the first call; later calls return what was made.

    Its credentials are kept in the instance folder (mode 0600) so that `make run` can
    show them every time: this is a throwaway organization on the user's own machine.
    """
    path = credentials_path(instance_path)
    if os.path.exists(path):
        with open(path) as handle:
            details = json.load(handle)
        if "console_email" not in details:
            _add_owner_to_older_demo(path, details)
        return details
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
        **_demo_owner(credentials.organization_id),
    }
    _write_private(path, details)
    return details


def _demo_owner(organization_id: str) -> dict[str, str]:
    """The demo organization's owner, with a generated password, for the console."""
    user, password = create_user(organization_id, DEMO_OWNER_EMAIL, "owner", "Demo owner")
    return {"console_email": user.email, "console_password": password}


def _add_owner_to_older_demo(path: str, details: dict[str, str]) -> None:
    """A demo made before the console had people gets its owner now (unless the address
    was taken meanwhile: the demo then goes on without one)."""
    try:
        details.update(_demo_owner(details["organization_id"]))
    except Conflict:
        return
    _write_private(path, details)


def _write_private(path: str, details: dict[str, str]) -> None:
    """Write the file readable by its owner only, whole or not at all."""
    temporary = path + ".tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a leftover temporary file keeps its old mode otherwise
    with os.fdopen(fd, "w") as handle:
        json.dump(details, handle, indent=2)
    os.replace(temporary, path)
