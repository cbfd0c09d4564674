from rest_framework import serializers

from .models import Category, Product, User


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "name", "role", "is_active", "date_joined", "last_login"]


class UserBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "name"]


class CategoryBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "slug"]


class ProductSerializer(serializers.ModelSerializer):
    category = CategoryBriefSerializer(read_only=True)
    owner = UserBriefSerializer(read_only=True)

    class Meta:
        model = Product
        fields = [
            *("id", "name", "slug", "sku", "description", "price", "stock", "status"),
            *("category", "owner", "tags", "review_count", "avg_rating"),
            *("created_at", "updated_at"),
        ]
        read_only_fields = ["owner"]
