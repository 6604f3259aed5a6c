from django.apps import AppConfig


class ScreenConfig(AppConfig):
    name = "carnet.screen"
    label = "screen"
    verbose_name = "Waiting-room screen"
