from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger and revenue share"

    def ready(self) -> None:
        from ledger import receivers  # noqa: F401  (connects billing's and memberships' signals)
