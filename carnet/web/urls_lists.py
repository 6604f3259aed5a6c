"""Each role's lists of the day (census, a practitioner's day and results to review, the desk's
day sheet), in the web namespace."""

from django.urls import path

from .views import lists

urlpatterns = [
    path("lists/census/", lists.census, name="census"),
    path("lists/day/", lists.my_day, name="my_day"),
    path("lists/results/", lists.results, name="results_to_review"),
    path("lists/results/<int:result_id>/read/", lists.acknowledge, name="result_acknowledge"),
    path("lists/letters/", lists.letters, name="letters_received"),
    path("lists/day-sheet/", lists.desk_day_sheet, name="day_sheet"),
]
