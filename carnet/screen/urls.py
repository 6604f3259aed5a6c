from django.urls import path

from . import views

app_name = "screen"

urlpatterns = [
    path("<str:token>/", views.screen, name="board"),
    path("<str:token>/board/", views.screen_board, name="board_fragment"),
]
