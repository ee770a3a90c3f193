"""TransferLab in the browser. For now: the offline base's ImageNet prediction of an uploaded image."""

import pandas as pd
import plotly.express as px
import streamlit as st

from tlcore.errors import TLCoreError
from tlcore.predict_imagenet import predict_imagenet_bytes

st.set_page_config(page_title="TransferLab", page_icon="🧪")
st.title("TransferLab")
st.caption(
    "Transfer learning without the boilerplate. This first page shows what the pretrained base "
    "(EfficientNet-Lite0, offline) sees in an image: its ImageNet classes."
)

upload = st.file_uploader("An image", type=["jpg", "jpeg", "png", "gif", "bmp", "webp", "tif", "tiff"])
if upload is None:
    st.info("Upload a photo to see the base's five likeliest ImageNet classes.")
    st.stop()

try:
    with st.spinner("Running the base..."):
        top = predict_imagenet_bytes(upload.getvalue(), top=5)
except TLCoreError as error:
    st.error(str(error))
    st.stop()

left, right = st.columns([1, 2])
left.image(upload.getvalue(), caption=upload.name, width="stretch")
table = pd.DataFrame(top).rename(columns={"name": "class", "prob": "probability"})
chart = px.bar(table[::-1], x="probability", y="class", orientation="h", range_x=[0, 1], text_auto=".1%")
right.plotly_chart(chart, width="stretch")
