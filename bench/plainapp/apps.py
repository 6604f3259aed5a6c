from django.apps import AppConfig


class PlainAppConfig(AppConfig):
    name = "bench.plainapp"
    label = "plainapp"
    verbose_name = "Benchmark plain comparison"
