"""The route of accepting an invitation (mounted at ``/api/v1/auth/invitations/``)."""

from django.urls import path

from .views import InvitationAcceptView

urlpatterns = [path("accept/", InvitationAcceptView.as_view(), name="invitation-accept")]
