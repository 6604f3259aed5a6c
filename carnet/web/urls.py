from django.urls import path

from .views import auth, dashboard, patients

app_name = "web"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("login/", auth.login_view, name="login"),
    path("login/verify/", auth.verify_view, name="verify"),
    path("login/enrol/", auth.enrol_view, name="enrol"),
    path("logout/", auth.logout_view, name="logout"),
    path("language/", auth.language_view, name="language"),
    path("patients/", patients.search, name="patient_search"),
    path("patients/new/", patients.create, name="patient_create"),
    path("patients/<uuid:patient_id>/", patients.detail, name="patient_detail"),
    path("patients/<uuid:patient_id>/edit/", patients.edit, name="patient_edit"),
]
