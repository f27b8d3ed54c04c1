from django.urls import URLPattern

# The statement API (finance staff and partner viewers) comes next; see ledger/statements.py.
urlpatterns: list[URLPattern] = []
