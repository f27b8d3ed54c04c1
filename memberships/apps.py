from django.apps import AppConfig


class MembershipsConfig(AppConfig):
    name = "memberships"
    verbose_name = "Memberships"

    def ready(self) -> None:
        from memberships import receivers  # noqa: F401  (connects billing's signals)
