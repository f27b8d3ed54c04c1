from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.models import Role, RoleGrant, User
from config.json_input import JSONInputSerializer


class TokenInputSerializer(JSONInputSerializer):
    email = serializers.EmailField()
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class RoleGrantOutputSerializer(serializers.ModelSerializer[RoleGrant]):
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = RoleGrant
        fields = ("role", "employer_id", "partner_id")


class UserOutputSerializer(serializers.ModelSerializer[User]):
    roles = RoleGrantOutputSerializer(source="role_grants", many=True, read_only=True)

    class Meta:
        model = User
        fields = ("id", "email", "full_name", "roles")


class TokenOutputSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(help_text="Send as `Authorization: Bearer <token>`.")
    token_type = serializers.CharField(default="Bearer")
    expires_at = serializers.DateTimeField()
    user = UserOutputSerializer()
