"""What the pretrained base sees in an image: its five likeliest ImageNet classes."""

import pandas as pd
import plotly.express as px
import streamlit as st

from pages.common import run_or_stop
from tlcore.image.try_base import predict_imagenet_bytes

st.title("Try the base")
st.caption("The offline base (EfficientNet-Lite0) as it is, with its 1000 ImageNet classes: no training.")

upload = st.file_uploader("An image", type=["jpg", "jpeg", "png", "gif", "bmp", "webp", "tif", "tiff"])
if upload is None:
    st.info("Upload a photo to see the base's five likeliest ImageNet classes.")
    st.stop()

with st.spinner("Running the base..."):
    top = run_or_stop(lambda: predict_imagenet_bytes(upload.getvalue(), top=5))

left, right = st.columns([1, 2])
left.image(upload.getvalue(), caption=upload.name, width="stretch")
table = pd.DataFrame(top).rename(columns={"name": "class", "prob": "probability"})
chart = px.bar(table[::-1], x="probability", y="class", orientation="h", range_x=[0, 1], text_auto=".1%")
right.plotly_chart(chart, width="stretch")
