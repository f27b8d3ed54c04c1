from django.apps import AppConfig


class EmployersConfig(AppConfig):
    name = "employers"
    verbose_name = "Employers"

    def ready(self) -> None:
        from employers import (  # noqa: F401  (connects roster signals; registers tasks)
            enrollment_tasks,
            receivers,
        )
