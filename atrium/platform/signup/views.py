"""The sign-up API of the platform host (``/api/v1/signup/``): open to anyone while
``ATRIUM_SIGNUP_ENABLED`` is on, a 404 while it is off. Its OpenAPI documentation is in
``openapi.py``."""

from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from atrium.conf import atrium_settings
from atrium.errors import NotFound

from . import openapi, services
from .serializers import SignupConfirmSerializer, SignupSerializer
from .throttling import enforce_signup_rate


class _SignupEndpoint(APIView):
    authentication_classes = []  # opt-out by name: no account exists yet
    permission_classes = [AllowAny]
    throttle_classes = []  # limited per address and e-mail by enforce_signup_rate

    def initial(self, request, *args, **kwargs):
        if not atrium_settings.SIGNUP_ENABLED:
            raise NotFound("Not found: no such URL on this host.")
        super().initial(request, *args, **kwargs)

    def validated(self, serializer_class) -> dict:
        payload = serializer_class(data=self.request.data)
        payload.is_valid(raise_exception=True)
        return payload.validated_data


@openapi.signup_view
class SignupView(_SignupEndpoint):
    serializer_class = SignupSerializer

    def post(self, request):
        data = self.validated(SignupSerializer)
        enforce_signup_rate(request, data["email"])
        signup = services.signup_request(**data)
        return Response(
            {"slug": signup.slug, "email": signup.email, "expires_at": signup.expires_at},
            status=status.HTTP_202_ACCEPTED,
        )


@openapi.signup_confirm_view
class SignupConfirmView(_SignupEndpoint):
    serializer_class = SignupConfirmSerializer

    def post(self, request):
        confirmed = services.signup_confirm(
            **self.validated(SignupConfirmSerializer), request=request
        )
        return Response(
            {
                "url": confirmed.url,
                "access": confirmed.tokens.access,
                "refresh": confirmed.tokens.refresh,
            },
            status=status.HTTP_201_CREATED,
        )
