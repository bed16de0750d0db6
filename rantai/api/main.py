from ninja import NinjaAPI

api = NinjaAPI(title="Rantai API", version="1", urls_namespace="api")
