from django.urls import path

from .views import account, appointments, booking, reset, sign_in

app_name = "portal"

urlpatterns = [
    path("", appointments.home, name="home"),
    path("login/", sign_in.login_view, name="login"),
    path("login/verify/", sign_in.verify_view, name="verify"),
    path("logout/", sign_in.logout_view, name="logout"),
    path("sign-up/", sign_in.sign_up_view, name="sign_up"),
    path("password-reset/", reset.ask, name="password_reset"),
    path("password-reset/sent/", reset.sent, name="password_reset_sent"),
    path("password-reset/new/", reset.set_password, name="password_reset_set"),
    path("password-reset/<str:token>/", reset.follow, name="password_reset_follow"),
    path("book/", booking.search, name="book"),
    path("book/confirm/", booking.confirm, name="book_confirm"),
    path("appointments/<uuid:appointment_id>/", appointments.detail, name="appointment"),
    path(
        "appointments/<uuid:appointment_id>/cancel/", appointments.cancel, name="appointment_cancel"
    ),
    path(
        "appointments/<uuid:appointment_id>/calendar.ics",
        appointments.calendar_file,
        name="appointment_calendar",
    ),
    path("appointments/<uuid:appointment_id>/move/", booking.move, name="appointment_move"),
    path("history/", account.history, name="history"),
    path("history/<int:entry_id>/report/", account.report_access, name="history_report"),
    path("account/", account.settings_page, name="account"),
    path("account/second-factor/", account.second_factor_page, name="second_factor"),
]
