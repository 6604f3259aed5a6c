from django.apps import AppConfig


class OrganisationsConfig(AppConfig):
    name = "carnet.organisations"
    label = "organisations"
    verbose_name = "Organisations"
