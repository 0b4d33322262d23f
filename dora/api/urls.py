"""REST API routes (v1)."""

urlpatterns: list = []
