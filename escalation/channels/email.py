import smtplib

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.utils import DNS_NAME
from django.core.validators import validate_email

from escalation.channels.base import Message, PermanentDeliveryError, TransientDeliveryError


class EmailChannel:
    """Sends pages through Django's configured e-mail backend (SMTP, file, console...)."""

    kind = "email"
    label = "E-mail"
    needs_verification = False

    def validate_address(self, address: str) -> None:
        validate_email(address)

    def display_address(self, address: str) -> str:
        # Teammates write to each other at these addresses anyway; they carry no secret.
        return address

    def send(self, message: Message) -> None:
        email = EmailMessage(
            subject=message.subject,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.address],
            # The same delivery always carries the same Message-ID, so a receiving system
            # can drop the copy if a crash between send and commit makes us send it again.
            headers={"Message-ID": f"<{message.idempotency_key}@{DNS_NAME}>"},
        )
        try:
            email.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"address refused: {exc.recipients}") from exc
            raise TransientDeliveryError(f"address deferred: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600:
                raise PermanentDeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
            raise TransientDeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise TransientDeliveryError(f"e-mail not sent: {exc}") from exc
