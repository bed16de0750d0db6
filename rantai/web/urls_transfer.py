"""Import and export of an organisation, under /o/<org-slug>/transfer/."""

from django.urls import path

from rantai.web.views import transfer as views

urlpatterns = [
    path("", views.transfer_page, name="org-transfer"),
    path("template.xlsx", views.template_xlsx, name="org-transfer-template-xlsx"),
    path("template.zip", views.template_zip, name="org-transfer-template-zip"),
    path("export.xlsx", views.export_xlsx, name="org-transfer-export"),
]
