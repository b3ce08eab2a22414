from django.urls import path

from . import views

urlpatterns = [
    path("", views.index),
    path("session.json", views.session_json),
    path("login", views.login),
    path("cart", views.cart),
    path("logout", views.logout),
]
