from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "carnet.sharing"
    label = "sharing"
    verbose_name = "Sharing outside the group"
