from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "carnet.portal"
    label = "portal"
    verbose_name = "Patient portal"
