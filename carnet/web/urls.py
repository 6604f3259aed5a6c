from django.urls import path

from . import urls_clinical, urls_identity, urls_laboratory, urls_lists, urls_sharing
from .views import (
    accounts,
    auth,
    dashboard,
    desk,
    enrolment,
    exports,
    guard_steps,
    health,
    patients,
    security,
)

app_name = "web"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("login/", auth.login_view, name="login"),
    path("login/verify/", auth.verify_view, name="verify"),
    path("login/enrol/", auth.enrol_view, name="enrol"),
    path("enrol/", enrolment.enrolment_page, name="enrolment"),
    path("logout/", auth.logout_view, name="logout"),
    path("language/", auth.language_view, name="language"),
    path("health/live", health.live, name="health_live"),
    path("health/ready", health.ready, name="health_ready"),
    path("metrics", health.prometheus, name="metrics"),
    path("patients/", patients.search, name="patient_search"),
    path("patients/new/", patients.create, name="patient_create"),
    path("patients/<uuid:patient_id>/", patients.detail, name="patient_detail"),
    path("patients/<uuid:patient_id>/edit/", patients.edit, name="patient_edit"),
    path("patients/<uuid:patient_id>/break-glass/", guard_steps.break_glass, name="break_glass"),
    path("patients/<uuid:patient_id>/share/", patients.share, name="patient_share"),
    path(
        "patients/<uuid:patient_id>/portal-code/", patients.portal_code, name="patient_portal_code"
    ),
    path("confirm/", guard_steps.step_up, name="step_up"),
    path("desk/", desk.desk, name="desk"),
    path("desk/book/", desk.desk_book, name="desk_book"),
    path("desk/<uuid:appointment_id>/check-in/", desk.desk_check_in, name="desk_check_in"),
    path("desk/<uuid:appointment_id>/cancel/", desk.desk_cancel, name="desk_cancel"),
    path("desk/<uuid:appointment_id>/details/", desk.desk_details, name="desk_details"),
    path("desk/<uuid:appointment_id>/move/", desk.desk_move, name="desk_move"),
    path("desk/next-free/", desk.desk_next_free, name="desk_next_free"),
    path("desk/print/", desk.desk_print_day, name="desk_print_day"),
    path("desk/week/", desk.desk_week, name="desk_week"),
    path("desk/unit/", desk.desk_unit, name="desk_unit"),
    path("desk/queue/", desk.desk_queue, name="desk_queue"),
    path("desk/queue/call/", desk.desk_call_next, name="desk_call_next"),
    path(
        "desk/<uuid:appointment_id>/confirmation/",
        desk.desk_confirmation,
        name="desk_confirmation",
    ),
    path(
        "desk/<uuid:appointment_id>/confirmation/pdf/",
        desk.desk_confirmation_pdf,
        name="desk_confirmation_pdf",
    ),
    path(
        "desk/<uuid:appointment_id>/confirmation/send/",
        desk.desk_send_confirmation,
        name="desk_send_confirmation",
    ),
    path("security/", security.console_page, name="security"),
    path("security/audit/", security.audit_search, name="security_audit"),
    path("security/incident/", security.incident_report, name="security_incident"),
    path(
        "security/alerts/<int:alert_id>/acknowledge/",
        security.acknowledge,
        name="security_acknowledge",
    ),
    path("security/accounts/<int:user_id>/unlock/", security.unlock, name="security_unlock"),
    path("security/break-glass/<int:opening_id>/review/", security.review, name="security_review"),
    path("security/changes/<int:change_id>/", security.change_detail, name="security_change"),
    path("security/changes/<int:change_id>/decide/", security.decide, name="security_decide"),
    path(
        "security/exports/<int:export_id>/decide/", security.decide_export, name="security_export"
    ),
    path("exports/", exports.export_list, name="exports"),
    path("exports/<int:export_id>/produce/", exports.export_produce, name="export_produce"),
    path("exports/<int:export_id>/file/", exports.export_download, name="export_download"),
    path("accounts/", accounts.account_list, name="accounts"),
    path("accounts/new/", accounts.account_create, name="account_create"),
    path("accounts/<int:user_id>/", accounts.account_detail, name="account_detail"),
    path(
        "accounts/<int:user_id>/request/<slug:kind>/",
        accounts.account_request,
        name="account_request",
    ),
]

# Each domain's staff pages keep their routes in their own module, in the same namespace.
urlpatterns += (
    urls_clinical.urlpatterns
    + urls_laboratory.urlpatterns
    + urls_identity.urlpatterns
    + urls_sharing.urlpatterns
    + urls_lists.urlpatterns
)
