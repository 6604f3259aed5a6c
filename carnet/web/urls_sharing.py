"""Staff routes of the sharing pages, and the outside recipient's (part of the `web`
namespace, see urls.py)."""

from django.urls import path

from .views import sharing

urlpatterns: list = [
    path("patients/<uuid:patient_id>/send/", sharing.share_outside_page, name="share_outside"),
    path(
        "patients/<uuid:patient_id>/send/<uuid:share_id>/revoke/",
        sharing.revoke_outside_share,
        name="share_outside_revoke",
    ),
    path("shared/<str:token>/", sharing.shared, name="shared"),
    path("shared/<str:token>/items/<int:item_id>/", sharing.shared_item, name="shared_item"),
]
