from django.http import JsonResponse
from rest_framework import generics, viewsets

from .models import Product
from .serializers import ProductSerializer, UserSerializer


class ProductViewSet(viewsets.ModelViewSet):
    serializer_class = ProductSerializer
    queryset = Product.objects.filter(is_deleted=False).select_related(
        "category", "category__parent", "owner"
    )

    def perform_create(self, serializer):
        serializer.save(owner=self.request.user)


class MeView(generics.RetrieveAPIView):
    serializer_class = UserSerializer

    def get_object(self):
        return self.request.user


def healthz(request):
    return JsonResponse({"status": "ok"})
